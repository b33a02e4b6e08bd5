"""Record building: the host-side stage that turns ops into wire-ready records."""
