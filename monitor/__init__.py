"""monitor: a news monitoring and alerting daemon.

Polls RSS/Atom feeds, matches new articles against watchlists, stores every
article and hit, and alerts by email, Slack or any apprise URL.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
