"""feedbackwidget: "Do you like this article?" for news publishers."""

from .app import FeedbackWidget
from .config import RateLimit, Settings
from .errors import FeedbackError

__all__ = ["FeedbackError", "FeedbackWidget", "RateLimit", "Settings"]
__version__ = "0.1.0"
