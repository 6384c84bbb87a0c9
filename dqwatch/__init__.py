"""dqwatch: watch the data quality of many Meta datasets (Pixels)."""

__version__ = "0.1.0"
