"""The web dashboard `parac serve` answers at `/`: server-rendered pages over the same tools the REST routes run."""
