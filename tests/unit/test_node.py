"""The config hash nodes compare (`monitor status`'s rolling-change warning, and
whether a node may switch off feeds its config drops): one shared config file
gives one hash on every node, whatever each node's own settings."""

from __future__ import annotations

from monitor.config import parse_config
from monitor.node import config_hash

SHARED = """
feeds:
  - {name: A, url: "https://a.example/rss"}
watchlists:
  - {name: w, keywords: [cartel]}
"""


def test_each_nodes_own_settings_leave_the_hash_alone() -> None:
    plain = parse_config(SHARED, source="/etc/monitor/config.yaml", environ={})
    own = parse_config(
        SHARED
        + """
database: postgresql+psycopg://node2:secret@db:5432/monitor?application_name=node2
web: {enabled: true, listen: "0.0.0.0:8080", token: "0123456789abcdef"}
cluster: {node_name: node-2, heartbeat: 5s, claim_batch: 80}
""",
        source="/srv/other/config.yaml",
        environ={},
    )
    assert config_hash(own) == config_hash(plain)


def test_what_nodes_share_changes_the_hash() -> None:
    plain = config_hash(parse_config(SHARED, environ={}))
    another_feed = SHARED.replace("watchlists:", '  - {name: B, url: "https://b.example/rss"}\nwatchlists:')
    another_word = SHARED.replace("cartel]", "cartel, narco]")
    changed = [another_feed, another_word] + [
        SHARED + section + "\n"
        for section in ("poll: {interval: 30m}", "dedup: {enabled: false}", "delivery: {max_attempts: 3}")
    ]
    hashes = {config_hash(parse_config(text, environ={})) for text in changed}
    assert len(hashes) == len(changed) and plain not in hashes
