"""Schemathesis hooks for hdms (loaded through SCHEMATHESIS_HOOKS by tests/schemathesis.rs).

The mail route takes a raw message (`message/rfc822`), which Schemathesis has no serializer
for; the document describes it as a string, sent as its UTF-8 bytes.
"""

import schemathesis


@schemathesis.serializer("message/rfc822")
def rfc822(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")
