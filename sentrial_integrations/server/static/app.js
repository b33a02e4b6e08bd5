/* Sentrial local dashboard: clickable session rows; the session timeline, event detail and replay.
 *
 * Safety rule: user data only ever reaches the page through text nodes (textContent / createTextNode),
 * never through innerHTML. Positions are set through the CSSOM, which the Content-Security-Policy allows.
 */
(function () {
  "use strict";

  var TYPE_LABEL = { tool_call: "Tool", llm_call: "LLM", decision: "Dec", error: "Err" };

  // --- helpers ---------------------------------------------------------------------------------

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  /* x.toFixed(d) as Python's f"{x:.{d}f}" writes it: an exact tie rounds to even, not up. */
  function pyFixed(x, d) {
    var digits = Math.min(100, d + 60); // exact for the magnitudes shown here
    var exact = x.toFixed(digits);
    var cut = exact.length - (digits - d) - (d === 0 ? 1 : 0);
    var tail = exact.slice(exact.length - (digits - d));
    var kept = exact.slice(0, cut);
    if (/^50*$/.test(tail) && /[02468]$/.test(kept)) return kept;
    return x.toFixed(d);
  }

  /* The same text as fmt_duration in core/format.py: 0.25 ms, 42 ms, 1.20 s, 12.5 s, 3 min 05 s,
     2 h 10 min, 1 d 1 h. */
  function fmtDuration(ms) {
    if (!isNum(ms)) return "—";
    if (ms < 0) return "-" + fmtDuration(-ms);
    if (ms === 0) return "0 ms";
    if (ms < 1) return pyFixed(ms, 2) + " ms";
    if (ms < 10) return pyFixed(ms, 1) + " ms";
    if (ms < 999.5) return pyFixed(ms, 0) + " ms";
    var s = ms / 1000;
    if (s < 9.995) return pyFixed(s, 2) + " s";
    if (s < 59.95) return pyFixed(s, 1) + " s";
    var total = Number(pyFixed(s, 0));
    var minutes = Math.floor(total / 60);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    if (minutes < 60) return minutes + " min " + pad(total % 60) + " s";
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h " + pad(minutes % 60) + " min";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  }

  function fmtInt(n) {
    return isNum(n) ? Math.round(n).toLocaleString("en-US") : "—";
  }

  function fmtCost(c) {
    if (!isNum(c)) return "—";
    if (c === 0) return "$0";
    if (Math.abs(c) >= 1) return "$" + c.toFixed(2);
    var decimals = Math.min(8, Math.max(4, 1 - Math.floor(Math.log10(Math.abs(c)))));
    return "$" + c.toFixed(decimals);
  }

  /* A timeline tick: as precise as the tick step needs, in the units of fmtDuration. */
  function fmtOffset(ms, step) {
    if (ms === 0) return "0";
    if (step < 1000 && ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) {
      var decimals = step >= 1000 ? 0 : step >= 100 ? 1 : 2;
      return (ms / 1000).toFixed(decimals) + " s";
    }
    var m = Math.floor(ms / 60000);
    return m + " min " + String(Math.round((ms % 60000) / 1000)).padStart(2, "0") + " s";
  }

  function fmtClock(ts) {
    if (!isNum(ts)) return "—";
    var d = new Date(ts * 1000);
    var pad = function (n, w) { return String(n).padStart(w || 2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" +
      pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }

  function clip(text, n) {
    text = String(text);
    return text.length <= n ? text : text.slice(0, n - 1) + "…";
  }

  function niceStep(spanMs, target) {
    var raw = spanMs / target;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var mults = [1, 2, 5, 10];
    for (var i = 0; i < mults.length; i++) if (mults[i] * p >= raw) return mults[i] * p;
    return 10 * p;
  }

  /* A JSON value as a <pre> of coloured text spans. */
  function jsonNode(value) {
    var pre = el("pre", "json");
    function add(text, cls) {
      if (cls) pre.appendChild(el("span", cls, text));
      else pre.appendChild(document.createTextNode(text));
    }
    function walk(v, indent) {
      var pad = "  ".repeat(indent + 1);
      if (v === null || v === undefined) return add("null", "j-null");
      if (typeof v === "string") return add(JSON.stringify(v), "j-str");
      if (typeof v === "number") return add(String(v), "j-num");
      if (typeof v === "boolean") return add(String(v), "j-bool");
      if (Array.isArray(v)) {
        if (!v.length) return add("[]");
        add("[\n");
        v.forEach(function (item, i) {
          add(pad);
          walk(item, indent + 1);
          add(i < v.length - 1 ? ",\n" : "\n");
        });
        return add("  ".repeat(indent) + "]");
      }
      var keys = Object.keys(v);
      if (!keys.length) return add("{}");
      add("{\n");
      keys.forEach(function (k, i) {
        add(pad);
        add(JSON.stringify(k), "j-key");
        add(": ");
        walk(v[k], indent + 1);
        add(i < keys.length - 1 ? ",\n" : "\n");
      });
      add("  ".repeat(indent) + "}");
    }
    walk(value, 0);
    return pre;
  }

  function textOf(content) {
    if (content === null || content === undefined) return null;
    if (typeof content === "string") return content;
    if (Array.isArray(content)) {
      var parts = content.map(function (p) {
        if (typeof p === "string") return p;
        if (p && typeof p === "object" && typeof p.text === "string") return p.text;
        return JSON.stringify(p);
      });
      return parts.join("\n");
    }
    return JSON.stringify(content, null, 2);
  }

  // --- list page -------------------------------------------------------------------------------

  function initList() {
    // submit only the filled-in filters, so the URL stays short and shareable
    Array.prototype.forEach.call(document.querySelectorAll("form.filters"), function (form) {
      form.addEventListener("submit", function () {
        Array.prototype.forEach.call(form.querySelectorAll("input"), function (input) {
          if (!input.value.trim()) input.disabled = true;
        });
      });
    });
    var rows = document.querySelectorAll("tr[data-href]");
    Array.prototype.forEach.call(rows, function (tr) {
      tr.addEventListener("click", function (e) {
        if (e.target.closest("a") || window.getSelection().toString()) return;
        window.location.href = tr.getAttribute("data-href");
      });
    });
  }

  // --- session page ----------------------------------------------------------------------------

  function label(ev) {
    if (ev.type === "llm_call") return ev.model || ev.name || "llm";
    if (ev.type === "decision") {
      if (typeof ev.decision === "string" && ev.decision) return ev.decision;
      return ev.reasoning ? clip(ev.reasoning, 80) : "decision";
    }
    if (ev.type === "error") {
      var err = ev.error || {};
      var msg = typeof err === "object" ? (err.type || "Error") + ": " + (err.message || "") : String(err);
      return clip(msg, 120);
    }
    return ev.name || ev.type;
  }

  function sublabel(ev) {
    if (ev.type === "llm_call") return ev.provider || "";
    if (ev.type === "error") return ev.name ? "in " + ev.name : "";
    return "";
  }

  function SessionView(root, session, events) {
    this.root = root;
    this.session = session;
    this.events = events; // chronological: ts, then seq
    this.sel = -1;
    this.prevBtn = document.getElementById("prev-event");
    this.nextBtn = document.getElementById("next-event");
    this.stepEl = document.getElementById("step");
    this.detail = document.getElementById("detail");
    events.forEach(function (ev, i) { ev._i = i; });
    this.layoutTime();
    this.buildTree();
    this.render();
    this.bind();
    var start = 0;
    var m = /^#event=(.+)$/.exec(window.location.hash);
    if (m) {
      var wanted = decodeURIComponent(m[1]);
      events.forEach(function (ev, i) { if (ev.id === wanted) start = i; });
    }
    this.renderBreakdown();
    if (events.length) this.select(start, false);
    else this.updateControls();
    root.setAttribute("data-ready", "1");
  }

  SessionView.prototype.layoutTime = function () {
    var s = this.session;
    var t0 = Infinity;
    var t1 = -Infinity;
    if (isNum(s.started_at)) t0 = s.started_at;
    if (isNum(s.ended_at)) t1 = s.ended_at;
    this.events.forEach(function (ev) {
      if (!isNum(ev.ts)) return;
      t0 = Math.min(t0, ev.ts);
      t1 = Math.max(t1, ev.ts + (isNum(ev.duration_ms) ? ev.duration_ms / 1000 : 0));
    });
    if (!isFinite(t0)) t0 = 0;
    if (!isFinite(t1) || t1 <= t0) t1 = t0 + 0.001;
    this.t0 = t0;
    this.spanMs = (t1 - t0) * 1000;
  };

  SessionView.prototype.pct = function (ts) {
    return Math.max(0, Math.min(100, ((ts - this.t0) * 1000 / this.spanMs) * 100));
  };

  /* Nest events under their parents (parent_span_id -> span_id); depth-first, children in time order. */
  SessionView.prototype.buildTree = function () {
    var bySpan = new Map();
    this.events.forEach(function (ev) {
      if (ev.span_id && !bySpan.has(ev.span_id)) bySpan.set(ev.span_id, ev);
    });
    var kids = new Map();
    var roots = [];
    this.events.forEach(function (ev) {
      var parent = ev.parent_span_id ? bySpan.get(ev.parent_span_id) : null;
      if (parent && parent !== ev) {
        if (!kids.has(parent)) kids.set(parent, []);
        kids.get(parent).push(ev);
      } else {
        roots.push(ev);
      }
    });
    var order = [];
    var seen = new Set();
    function walk(ev, depth) {
      if (seen.has(ev)) return;
      seen.add(ev);
      ev._depth = depth;
      ev._kids = kids.get(ev) || [];
      order.push(ev);
      ev._kids.forEach(function (k) { walk(k, depth + 1); });
    }
    roots.forEach(function (r) { walk(r, 0); });
    this.events.forEach(function (ev) { walk(ev, 0); }); // anything left by a span cycle
    this.order = order;
  };

  SessionView.prototype.render = function () {
    var self = this;
    var root = this.root;
    root.replaceChildren();
    if (!this.events.length) {
      root.appendChild(el("div", "none", "No events recorded in this session."));
      return;
    }
    // axis
    var axis = el("div", "tl-axis");
    axis.appendChild(el("div", "tl-label", "Event"));
    var ticksBox = el("div", "tl-track");
    var ticks = el("div", "lane tl-ticks");
    ticksBox.appendChild(ticks);
    axis.appendChild(ticksBox);
    root.appendChild(axis);

    var body = el("div", "tl-body");
    var grid = el("div", "tl-grid");
    body.appendChild(grid);
    var step = niceStep(this.spanMs, 6);
    for (var t = 0; t <= this.spanMs + 1e-9; t += step) {
      var x = (t / this.spanMs) * 100;
      var tick = el("span", "tl-tick" + (t === 0 ? " first" : ""), fmtOffset(t, step));
      tick.style.left = x + "%";
      if (x > 97) tick.style.transform = "translateX(-100%)";
      ticks.appendChild(tick);
      var line = el("div", "tl-gridline");
      line.style.left = x + "%";
      grid.appendChild(line);
    }
    this.playhead = el("div", "tl-playhead");
    grid.appendChild(this.playhead);

    this.rows = [];
    this.order.forEach(function (ev) {
      var row = self.renderRow(ev);
      self.rows[ev._i] = row;
      body.appendChild(row);
    });
    root.appendChild(body);
  };

  SessionView.prototype.renderRow = function (ev) {
    var self = this;
    var hasError = ev.type === "error" || !!ev.error;
    var row = el("div", "tl-row ty-row-" + ev.type + (hasError ? " has-error" : ""));
    row.tabIndex = -1;
    row.setAttribute("data-event-id", ev.id);
    row.setAttribute("data-type", ev.type);
    row.setAttribute("data-depth", String(ev._depth));

    var lab = el("div", "tl-label");
    lab.style.paddingLeft = 8 + ev._depth * 16 + "px";
    var caret = el("button", "caret" + (ev._kids.length ? "" : " leaf"), ev._kids.length ? "▼" : "");
    caret.type = "button";
    caret.title = "Collapse / expand";
    caret.addEventListener("click", function (e) {
      e.stopPropagation();
      self.toggle(ev, caret);
    });
    lab.appendChild(caret);
    lab.appendChild(el("span", "ty ty-" + ev.type, TYPE_LABEL[ev.type] || ev.type));
    var name = el("span", "tl-name", label(ev));
    var sub = sublabel(ev);
    if (sub) name.appendChild(el("span", "sub", sub));
    name.title = label(ev);
    lab.appendChild(name);
    if (hasError && ev.type !== "error") {
      var flag = el("span", "tl-flag", "!");
      flag.title = "This call failed";
      lab.appendChild(flag);
    }
    row.appendChild(lab);

    var track = el("div", "tl-track");
    var lane = el("div", "lane");
    var dur = isNum(ev.duration_ms) ? ev.duration_ms : null;
    var x = this.pct(isNum(ev.ts) ? ev.ts : this.t0);
    var bar = el("div", "bar ty-" + ev.type);
    bar.style.left = x + "%";
    var end = x;
    if (dur !== null && (ev.type === "tool_call" || ev.type === "llm_call")) {
      var w = Math.max(0, Math.min(100 - x, (dur / this.spanMs) * 100));
      bar.style.width = w + "%";
      end = x + w;
    } else if (ev.type === "tool_call" || ev.type === "llm_call") {
      bar.className += " point";
    }
    lane.appendChild(bar);
    var bits = [];
    if (dur !== null) bits.push(fmtDuration(dur));
    if (isNum(ev.total_tokens)) bits.push(fmtInt(ev.total_tokens) + " tok");
    if (bits.length) {
      var txt = el("span", "bar-text", bits.join(" · "));
      if (end < 72) txt.style.left = "calc(" + end + "% + 8px)";
      else txt.style.right = "calc(" + (100 - x) + "% + 8px)";
      lane.appendChild(txt);
    }
    track.appendChild(lane);
    row.appendChild(track);

    row.addEventListener("click", function () { self.select(ev._i, true); });
    return row;
  };

  /* Self time (own duration minus its timed children's) summed per step name, largest first. */
  SessionView.prototype.renderBreakdown = function () {
    var panel = document.getElementById("breakdown");
    var box = document.getElementById("breakdown-rows");
    if (!panel || !box) return;
    var groups = new Map();
    var total = 0;
    this.order.forEach(function (ev) {
      if (!isNum(ev.duration_ms)) return;
      var inner = 0;
      ev._kids.forEach(function (k) { if (isNum(k.duration_ms)) inner += k.duration_ms; });
      var self = Math.max(0, ev.duration_ms - inner);
      var key = ev.type + "\u0000" + label(ev);
      var g = groups.get(key);
      if (!g) { g = { type: ev.type, name: label(ev), ms: 0, n: 0, tokens: null }; groups.set(key, g); }
      g.ms += self;
      g.n += 1;
      if (isNum(ev.total_tokens)) g.tokens = (g.tokens || 0) + ev.total_tokens;
      total += self;
    });
    var list = Array.from(groups.values()).sort(function (a, b) { return b.ms - a.ms; }).slice(0, 8);
    if (!list.length || total <= 0) return;
    box.replaceChildren();
    list.forEach(function (g) {
      var row = el("div", "bd-row");
      var name = el("div", "bd-name");
      name.appendChild(el("span", "ty ty-" + g.type, TYPE_LABEL[g.type] || g.type));
      name.appendChild(el("span", "bd-label", g.name));
      if (g.n > 1) name.appendChild(el("span", "dim", "×" + g.n));
      row.appendChild(name);
      var track = el("div", "bd-track");
      var bar = el("div", "bd-bar ty-" + g.type);
      bar.style.width = Math.max(0.5, (g.ms / total) * 100) + "%";
      track.appendChild(bar);
      row.appendChild(track);
      row.appendChild(el("div", "bd-ms", fmtDuration(g.ms)));
      row.appendChild(el("div", "bd-pct", Math.round((g.ms / total) * 100) + "%"));
      row.appendChild(el("div", "bd-tok", g.tokens !== null ? fmtInt(g.tokens) + " tok" : ""));
      box.appendChild(row);
    });
    panel.hidden = false;
  };

  SessionView.prototype.toggle = function (ev, caret) {
    var collapsed = caret.textContent === "▼";
    caret.textContent = collapsed ? "▶" : "▼";
    var rows = this.rows;
    function setHidden(node, hidden) {
      node._kids.forEach(function (k) {
        rows[k._i].hidden = hidden;
        if (!hidden && k._collapsed) return; // stays folded under a folded child
        setHidden(k, hidden);
      });
    }
    ev._collapsed = collapsed;
    setHidden(ev, collapsed);
  };

  SessionView.prototype.bind = function () {
    var self = this;
    if (this.prevBtn) this.prevBtn.addEventListener("click", function () { self.step(-1); });
    if (this.nextBtn) this.nextBtn.addEventListener("click", function () { self.step(1); });
    document.addEventListener("keydown", function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      var t = e.target;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
      if (e.key === "ArrowRight" || e.key === "ArrowDown" || e.key === "j") { self.step(1); e.preventDefault(); }
      else if (e.key === "ArrowLeft" || e.key === "ArrowUp" || e.key === "k") { self.step(-1); e.preventDefault(); }
      else if (e.key === "Home") { self.select(0, true); e.preventDefault(); }
      else if (e.key === "End") { self.select(self.events.length - 1, true); e.preventDefault(); }
    });
  };

  SessionView.prototype.step = function (delta) {
    if (!this.events.length) return;
    var next = Math.max(0, Math.min(this.events.length - 1, this.sel + delta));
    if (next !== this.sel) this.select(next, true);
  };

  SessionView.prototype.select = function (i, fromUser) {
    var ev = this.events[i];
    if (!ev) return;
    this.sel = i;
    var row = this.rows[i];
    // unfold collapsed ancestors so the selected row is visible
    if (row.hidden) {
      var self = this;
      this.order.forEach(function (e) { if (e._collapsed) self.toggle(e, self.rows[e._i].querySelector(".caret")); });
    }
    this.events.forEach(function (other, j) {
      var r = this.rows[j];
      r.classList.toggle("selected", j === i);
      var later = isNum(other.ts) && isNum(ev.ts) ? other.ts > ev.ts || (other.ts === ev.ts && j > i) : j > i;
      r.classList.toggle("future", later);
    }, this);
    this.playhead.style.left = this.pct(isNum(ev.ts) ? ev.ts : this.t0) + "%";
    if (fromUser) {
      row.scrollIntoView({ block: "nearest" });
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", "#event=" + encodeURIComponent(ev.id));
      }
    }
    this.renderDetail(ev);
    this.updateControls();
  };

  SessionView.prototype.updateControls = function () {
    var n = this.events.length;
    if (this.stepEl) this.stepEl.textContent = n ? this.sel + 1 + " / " + n : "0 / 0";
    if (this.prevBtn) this.prevBtn.disabled = this.sel <= 0;
    if (this.nextBtn) this.nextBtn.disabled = this.sel >= n - 1;
  };

  SessionView.prototype.renderDetail = function (ev) {
    var d = this.detail;
    if (!d) return;
    d.replaceChildren();
    d.setAttribute("data-event-id", ev.id);

    var head = el("div", "detail-head");
    head.appendChild(el("span", "ty ty-" + ev.type, TYPE_LABEL[ev.type] || ev.type));
    head.appendChild(el("h3", "detail-title", ev.type === "llm_call" ? ev.name || label(ev) : label(ev)));
    head.appendChild(el("span", "step", "#" + (ev._i + 1) + " of " + this.events.length));
    d.appendChild(head);

    var kv = el("dl", "kv");
    function row(k, v) {
      if (v === null || v === undefined || v === "") return;
      kv.appendChild(el("dt", null, k));
      kv.appendChild(el("dd", null, v));
    }
    var offset = isNum(ev.ts) ? (ev.ts - this.t0) * 1000 : null;
    row("Start", (offset !== null ? "+" + fmtDuration(offset) + "  ·  " : "") + fmtClock(ev.ts));
    row("Duration", isNum(ev.duration_ms) ? fmtDuration(ev.duration_ms) : null);
    var out = ev.output && typeof ev.output === "object" && !Array.isArray(ev.output) ? ev.output : null;
    if (ev.type === "llm_call") {
      row("Model", ev.model);
      row("Provider", ev.provider);
      if (out && out.response_model && out.response_model !== ev.model) row("Response model", out.response_model);
      var tok = out && out.tokens && typeof out.tokens === "object" ? out.tokens : {};
      var tokens = fmtInt(ev.prompt_tokens) + " in · " + fmtInt(ev.completion_tokens) + " out · " + fmtInt(ev.total_tokens) + " total";
      if (isNum(tok.cached)) tokens += " · " + fmtInt(tok.cached) + " cached";
      if (isNum(tok.reasoning)) tokens += " · " + fmtInt(tok.reasoning) + " reasoning";
      row("Tokens", tokens);
      row("Cost", ev.cost === null || ev.cost === undefined ? (ev.unpriced ? "unknown (no price for this model)" : null) : fmtCost(ev.cost));
      if (ev.cost_source) row("Cost source", ev.cost_source);
      if (out) {
        row("Finish reason", out.finish_reason);
        row("First token", isNum(out.time_to_first_token_ms) ? fmtDuration(out.time_to_first_token_ms) : null);
        if (out.partial) row("Partial", "yes (stream ended early)");
      }
    } else {
      if (isNum(ev.total_tokens)) row("Tokens", fmtInt(ev.total_tokens));
      if (isNum(ev.cost)) row("Cost", fmtCost(ev.cost));
    }
    if (ev.type === "decision" && isNum(ev.confidence)) row("Confidence", String(Math.round(ev.confidence * 1000) / 10) + "%");
    row("Span", ev.span_id);
    row("Parent span", ev.parent_span_id);
    row("Event id", ev.id);
    d.appendChild(kv);

    function section(title, node, cls) {
      var sec = el("div", "sec" + (cls ? " " + cls : ""));
      sec.setAttribute("data-sec", title.toLowerCase().replace(/ \(.*$/, "").replace(/[^a-z]+/g, "-"));
      sec.appendChild(el("h4", null, title));
      sec.appendChild(node);
      d.appendChild(sec);
      return sec;
    }

    if (ev.error) {
      var e = typeof ev.error === "object" ? ev.error : { message: String(ev.error) };
      var box = el("div", "err-box");
      if (e.type) box.appendChild(el("div", "err-type", e.type));
      box.appendChild(el("div", "err-msg", e.message || "(no message)"));
      if (e.stack_trace) {
        var st = el("pre", "stack", e.stack_trace);
        box.appendChild(st);
      }
      section("Error", box, "err");
    }

    if (ev.type === "llm_call") {
      var input = ev.input && typeof ev.input === "object" ? ev.input : {};
      if (Array.isArray(input.messages) && input.messages.length) {
        var msgs = el("div", "msgs");
        input.messages.forEach(function (m) {
          var role = m && typeof m === "object" && m.role ? String(m.role) : "message";
          var box = el("div", "msg r-" + role.replace(/[^a-z_]/gi, ""));
          box.appendChild(el("div", "role", role));
          var text = m && typeof m === "object" ? textOf(m.content) : textOf(m);
          if (text !== null && text !== "") box.appendChild(el("div", "content", text));
          var extra = {};
          if (m && typeof m === "object") {
            Object.keys(m).forEach(function (k) { if (k !== "role" && k !== "content") extra[k] = m[k]; });
          }
          if (Object.keys(extra).length) box.appendChild(jsonNode(extra));
          msgs.appendChild(box);
        });
        section("Messages (" + input.messages.length + ")", msgs);
      } else if (ev.input !== null && ev.input !== undefined) {
        section("Input", jsonNode(ev.input));
      }
      if (input.params && typeof input.params === "object" && Object.keys(input.params).length) {
        section("Params", jsonNode(input.params));
      }
      if (out) {
        var content = textOf(out.content);
        if (content) {
          var resp = el("div", "msg response r-assistant");
          resp.appendChild(el("div", "role", "assistant"));
          resp.appendChild(el("div", "content", content));
          section("Response", resp);
        }
        if (Array.isArray(out.tool_calls) && out.tool_calls.length) section("Tool calls", jsonNode(out.tool_calls));
      } else if (ev.output !== null && ev.output !== undefined) {
        section("Output", jsonNode(ev.output));
      }
    } else if (ev.type === "decision") {
      if (ev.reasoning) section("Reasoning", el("pre", "block", ev.reasoning));
      if (ev.decision !== null && ev.decision !== undefined) {
        section("Decision", typeof ev.decision === "string" ? el("pre", "block", ev.decision) : jsonNode(ev.decision));
      }
      if (Array.isArray(ev.alternatives) && ev.alternatives.length) {
        var ul = el("ul", "alts");
        ev.alternatives.forEach(function (a) { ul.appendChild(el("li", null, typeof a === "string" ? a : JSON.stringify(a))); });
        section("Alternatives considered", ul);
      }
    } else if (ev.type === "tool_call") {
      section("Input", jsonNode(ev.input === undefined ? null : ev.input));
      section("Output", jsonNode(ev.output === undefined ? null : ev.output));
      if (ev.reasoning) section("Reasoning", el("pre", "block", ev.reasoning));
    } else {
      if (ev.input !== null && ev.input !== undefined) section("Input", jsonNode(ev.input));
      if (ev.output !== null && ev.output !== undefined) section("Output", jsonNode(ev.output));
    }
    if (ev.metadata && typeof ev.metadata === "object" && Object.keys(ev.metadata).length) {
      section("Metadata", jsonNode(ev.metadata));
    }

    var raw = el("details", "raw");
    raw.appendChild(el("summary", null, "Raw event JSON"));
    var copy = {};
    Object.keys(ev).forEach(function (k) { if (k.charAt(0) !== "_") copy[k] = ev[k]; });
    raw.appendChild(jsonNode(copy));
    var rawSec = el("div", "sec");
    rawSec.appendChild(raw);
    d.appendChild(rawSec);

    var hint = el("div", "kbd-hint");
    hint.appendChild(el("kbd", null, "←"));
    hint.appendChild(document.createTextNode(" "));
    hint.appendChild(el("kbd", null, "→"));
    hint.appendChild(document.createTextNode(" step through events in order"));
    d.appendChild(hint);
  };

  function initSession(root) {
    var url = root.getAttribute("data-api");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        new SessionView(root, data.session, data.events || []);
      })
      .catch(function (err) {
        root.replaceChildren(el("div", "none", "Could not load the events: " + err.message));
      });
  }

  function init() {
    initList();
    var root = document.getElementById("timeline");
    if (root) initSession(root);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
