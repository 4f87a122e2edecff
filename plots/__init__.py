"""Figure registry and gallery. One module per paper; reads results, never simulates on its own."""
