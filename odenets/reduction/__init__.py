"""Model reduction for transport: FOMs, POD, autoencoders, projection ROMs, error estimates."""
