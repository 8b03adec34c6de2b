"""Interactive explorers of the lessons, one module per lesson."""
