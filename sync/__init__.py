"""Community Programs Toolkit: form responses to a master workbook and what runs on it."""

__version__ = "0.1.0"
