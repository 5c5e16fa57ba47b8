"""parac.resources."""
