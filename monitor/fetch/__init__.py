"""Getting feeds: the HTTP client and the feedparser adapter. Nothing else touches the network."""
