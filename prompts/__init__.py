"""parac.prompts."""
