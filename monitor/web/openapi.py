"""The OpenAPI 3.1 document of the JSON API (/api/openapi.json), written out by hand.

Five read-only list endpoints, each newest first with cursor pagination:
pass the response's `next_cursor` as `cursor` for the next page (null: the
last page).
"""

from __future__ import annotations

from typing import Any

from monitor import __version__

_CURSOR = {
    "name": "cursor",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "the previous page's next_cursor",
}
_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
}
_HIT_FILTERS = [
    {"name": "watchlist", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "feed", "in": "query", "required": False, "schema": {"type": "string"}},
    {
        "name": "since",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "a duration back from now (24h, 7d) or an ISO 8601 time",
    },
    {
        "name": "until",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "an ISO 8601 time (exclusive)",
    },
    {
        "name": "q",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "full-text search over title and text: every word must occur; word* is a prefix",
    },
]
_NULL_STR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(schema: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A response with a JSON body."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _items(schema: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": _ref(schema)}}}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "next_cursor": _NULL_STR,
            "note": _NULL_STR,
        },
    }


def _list(summary: str, schema: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": [*params, _CURSOR, _LIMIT],
            "responses": {
                "200": _json("a page", _ref(schema)),
                "400": _json("a bad parameter", _ref("Error")),
                "401": {"description": "a token is required"},
            },
        }
    }


def openapi_document(server_url: str = "/") -> dict[str, Any]:
    hit = {
        "type": "object",
        "description": "The same record as `monitor hits --format json`.",
        "required": ["id", "watchlist", "title", "link", "feed", "terms", "snippet", "score", "published", "found_at"],
        "properties": {
            "id": {"type": "integer"},
            "watchlist": {"type": "string"},
            "title": {"type": "string"},
            "link": _NULL_STR,
            "feed": {"type": "string"},
            "terms": {"type": "array", "items": {"type": "string"}},
            "snippet": {"type": "string", "description": "plain text around the first match (feed text as it is)"},
            "score": {"type": "number"},
            "published": _TIME,
            "found_at": _TIME,
            "story_id": {"type": ["integer", "null"]},
            "outlets": {"type": "integer", "description": "outlets that reported the story"},
            "also_reported_by": {"type": "array", "items": {"type": "string"}},
            "matched_in": {
                "type": "string",
                "enum": ["feed", "page"],
                "description": "feed: the title or feed text matched; page: only the page's full text",
            },
            "highlights": {
                "type": "array",
                "items": {"type": "string"},
                "description": "the best few snippets, plain text (feed text as it is, no markers)",
            },
            "highlight_parts": {
                "type": "array",
                "description": (
                    "each of `highlights` as runs: joined, the runs' text is the snippet; `match` marks a matched word"
                ),
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["text", "match"],
                        "properties": {"text": {"type": "string"}, "match": {"type": "boolean"}},
                    },
                },
            },
            "spans": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": {"type": "string"},
                        "start": {"type": "integer"},
                        "end": {"type": "integer"},
                    },
                },
            },
        },
        "additionalProperties": True,
    }
    delivery_state = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "channel": {"type": "string"},
            "status": {"type": "string"},
            "attempts": {"type": "integer"},
            "last_error": _NULL_STR,
        },
    }
    story = {
        "type": "object",
        "description": (
            "One story (or a lone article) of one watchlist: its newest hit, how many hits, which feeds carried it."
        ),
        "required": ["story_id", "watchlist", "hits", "sources", "hit"],
        "properties": {
            "story_id": {"type": ["integer", "null"]},
            "watchlist": {"type": "string"},
            "hits": {"type": "integer"},
            "sources": {"type": "array", "items": {"type": "string"}},
            "deliveries": {"type": "array", "items": delivery_state},
            "hit": {"$ref": "#/components/schemas/Hit"},
        },
    }
    feed = {
        "type": "object",
        "required": ["name", "url", "state"],
        "properties": {
            "name": {"type": "string"},
            "url": {"type": "string"},
            "state": {"type": "string"},
            "reason": {"type": "string"},
            "last_success": _NULL_TIME,
            "last_polled": _NULL_TIME,
            "last_error": _NULL_STR,
            "last_error_at": _NULL_TIME,
            "next_poll": _NULL_TIME,
            "articles": {"type": "integer"},
            "articles_per_day": {"type": "number"},
        },
    }
    watchlist = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "query": _NULL_STR,
            "keywords": {"type": "array", "items": {"type": "string"}},
            "entities": {"type": "array", "items": {"type": "string"}},
            "channels": {"type": "array", "items": {"type": "string"}},
            "hits_total": {"type": "integer"},
            "hits_per_day": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "the last 30 UTC days, oldest first",
            },
        },
    }
    delivery = {
        "type": "object",
        "description": "The same record as `monitor deliveries --format json`.",
        "required": ["id", "channel", "status"],
        "properties": {
            "id": {"type": "integer"},
            "channel": {"type": "string"},
            "status": {"type": "string"},
            "attempts": {"type": "integer"},
            "last_error": _NULL_STR,
            "watchlist": {"type": "string"},
            "title": {"type": "string"},
            "created_at": _TIME,
            "next_attempt_at": _NULL_TIME,
            "sent_at": _NULL_TIME,
            "message": _NULL_STR,
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "monitor API",
            "version": __version__,
            "description": "Read-only JSON API of the news monitor. "
            "With web.token set, send `Authorization: Bearer <token>`.",
        },
        "servers": [{"url": server_url}],
        "security": [{}, {"bearer": []}],
        "paths": {
            "/api/hits": _list(
                "Stored hits, newest first: one per story and watchlist (as `monitor hits`)",
                "HitPage",
                [
                    *_HIT_FILTERS,
                    {
                        "name": "copies",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["0", "1"]},
                        "description": "1: every copy of a story (as `monitor hits --copies`)",
                    },
                ],
            ),
            "/api/stories": _list("Hits grouped by story and watchlist, newest first", "StoryPage", _HIT_FILTERS),
            "/api/feeds": {
                "get": {"summary": "Every feed's health", "responses": {"200": _json("feeds", _items("Feed"))}}
            },
            "/api/watchlists": {
                "get": {
                    "summary": "Watchlists with hit counts",
                    "responses": {"200": _json("watchlists", _items("Watchlist"))},
                }
            },
            "/api/deliveries": _list(
                "Outbox rows, newest first (default: not yet sent)",
                "DeliveryPage",
                [
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "comma-separated statuses, or `all` (default: every unsent status)",
                    },
                    {"name": "channel", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Hit": hit,
                "Story": story,
                "Feed": feed,
                "Watchlist": watchlist,
                "Delivery": delivery,
                "HitPage": _page("Hit"),
                "StoryPage": _page("Story"),
                "DeliveryPage": _page("Delivery"),
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
            },
        },
    }
