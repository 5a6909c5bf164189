"""Small helpers shared across skmnist: files, random seeds, memory."""
