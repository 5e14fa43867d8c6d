"""Not public API: helpers shared by the package. May change without notice."""
