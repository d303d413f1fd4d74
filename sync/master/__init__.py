"""The master workbook: the sync, the records it keeps, its sheets, staff input read back, and
the interface features plug into (`hooks`)."""
