"""Small helpers shared across ganlift (images, files)."""
