"""Workbooks: the sheet model, the writer (in this process or a second one), safe saving, reading back."""
