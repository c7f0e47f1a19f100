"""Small validation helpers shared by the layers."""
