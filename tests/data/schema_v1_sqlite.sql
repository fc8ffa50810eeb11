CREATE TABLE feeds (
	id INTEGER NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	url VARCHAR(2048) NOT NULL, 
	config_url VARCHAR(2048) NOT NULL, 
	active BOOLEAN NOT NULL, 
	disabled_reason TEXT, 
	title VARCHAR(1024), 
	etag VARCHAR(1024), 
	last_modified VARCHAR(200), 
	last_polled_at DATETIME, 
	last_success_at DATETIME, 
	last_new_article_at DATETIME, 
	last_error TEXT, 
	last_error_at DATETIME, 
	consecutive_failures INTEGER NOT NULL, 
	failing_since DATETIME, 
	admin_alerted BOOLEAN NOT NULL, 
	unchanged_polls INTEGER NOT NULL, 
	interval_seconds FLOAT, 
	next_poll_at DATETIME, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);

CREATE TABLE messages (
	id INTEGER NOT NULL, 
	channel VARCHAR(200) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	window_start DATETIME NOT NULL, 
	window_end DATETIME NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error TEXT, 
	done_targets JSON NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	claimed_at DATETIME, 
	sent_at DATETIME, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_messages_window UNIQUE (channel, kind, window_end)
);

CREATE INDEX ix_messages_due ON messages (status, next_attempt_at);

CREATE TABLE articles (
	id INTEGER NOT NULL, 
	feed_id INTEGER NOT NULL, 
	guid VARCHAR(512) NOT NULL, 
	link VARCHAR(2048), 
	title TEXT NOT NULL, 
	summary TEXT NOT NULL, 
	content TEXT NOT NULL, 
	author VARCHAR(512), 
	published_at DATETIME NOT NULL, 
	first_seen_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_articles_feed_guid UNIQUE (feed_id, guid), 
	FOREIGN KEY(feed_id) REFERENCES feeds (id) ON DELETE CASCADE
);

CREATE INDEX ix_articles_first_seen ON articles (first_seen_at);

CREATE INDEX ix_articles_link ON articles (link);

CREATE TABLE hits (
	id INTEGER NOT NULL, 
	article_id INTEGER NOT NULL, 
	watchlist VARCHAR(200) NOT NULL, 
	terms JSON NOT NULL, 
	snippet TEXT NOT NULL, 
	score FLOAT NOT NULL, 
	spans JSON NOT NULL, 
	snippets JSON NOT NULL, 
	found_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_hits_article_watchlist UNIQUE (article_id, watchlist), 
	FOREIGN KEY(article_id) REFERENCES articles (id) ON DELETE CASCADE
);

CREATE INDEX ix_hits_found_at ON hits (found_at);

CREATE TABLE deliveries (
	id INTEGER NOT NULL, 
	hit_id INTEGER NOT NULL, 
	channel VARCHAR(200) NOT NULL, 
	message_id INTEGER, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error TEXT, 
	done_targets JSON NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	claimed_at DATETIME, 
	sent_at DATETIME, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_deliveries_hit_channel UNIQUE (hit_id, channel), 
	FOREIGN KEY(hit_id) REFERENCES hits (id) ON DELETE CASCADE, 
	FOREIGN KEY(message_id) REFERENCES messages (id) ON DELETE SET NULL
);

CREATE INDEX ix_deliveries_channel_sent ON deliveries (channel, sent_at);

CREATE INDEX ix_deliveries_due ON deliveries (status, next_attempt_at);

CREATE INDEX ix_deliveries_message_id ON deliveries (message_id);
