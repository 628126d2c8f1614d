"""Output side: turn finished results into tables, JSON, CSV or arrays. Never computes attention."""
