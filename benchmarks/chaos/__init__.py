"""`make chaos`: databus under faults (``__main__``); its stack and load serve `make soak` too."""
