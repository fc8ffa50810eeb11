"""Pure decisions: text folding, matching, scheduling, rendering. No I/O here."""
