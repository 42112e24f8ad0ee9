"""botops: community operations bot and SOP scheduler for WeCom customer groups."""

__version__ = "0.1.0"
