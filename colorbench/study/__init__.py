"""A human real-vs-fake study ("colorization Turing test") run on a local web page.

`create` draws photos and methods into a study folder (``study.json`` and the
images under opaque ids), `server` serves it to participants, `storage` keeps
their votes in SQLite, `analysis` turns them into fooling rates with intervals,
and `board` attaches those to the leaderboard. The protocol is `protocol`'s.
"""
