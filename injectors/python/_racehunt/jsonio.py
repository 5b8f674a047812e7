"""JSON. The json package imports `re` and costs 5-10 ms per process; events need only a
small encoder and config.json (and the fork server's messages) only a small parser."""

_ESCAPES = {i: "\\u%04x" % i for i in range(0x20)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
                 ord("\t"): "\\t", 0x7F: "\\u007f", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def safe_repr(value, limit=2000):
    try:
        text = repr(value)
    except Exception as exc:
        text = "<repr failed: %s: %s>" % (type(exc).__name__, exc)
    if len(text) > limit:
        text = text[:limit] + "...(%d more characters)" % (len(text) - limit)
    return text


def jstr(s):
    return '"' + s.translate(_ESCAPES) + '"'


def _encode(value, out):
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(jstr(value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        # JSON has no NaN or infinity; null is the honest "no number" value.
        out.append(repr(value) if value == value and value not in (float("inf"), float("-inf"))
                   else "null")
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(jstr(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        out.append(jstr(safe_repr(value)))


def dumps(value):
    """UTF-8 bytes of one JSON value, without spaces (the harness's readers rely on it)."""
    out = []
    _encode(value, out)
    text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (undecodable file names) are not valid UTF-8; a JSON reader
        # in the harness would reject the whole line, so they become '?'.
        return text.encode("utf-8", "replace")


class JsonError(ValueError):
    pass


class _Parser(object):
    """A strict parser for the JSON the harness writes (config.json)."""

    _SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
                       "r": "\r", "t": "\t"}

    def __init__(self, text):
        self.s = text
        self.i = 0

    def parse(self):
        value = self.value()
        self.ws()
        if self.i != len(self.s):
            self.fail("trailing data")
        return value

    def fail(self, what):
        raise JsonError("config.json: %s at offset %d" % (what, self.i))

    def ws(self):
        s, i, n = self.s, self.i, len(self.s)
        while i < n and s[i] in " \t\r\n":
            i += 1
        self.i = i

    def value(self):
        self.ws()
        s, i = self.s, self.i
        if i >= len(s):
            self.fail("unexpected end")
        c = s[i]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr()
        if c == '"':
            return self.string()
        for word, val in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, i):
                self.i = i + len(word)
                return val
        j = i
        while j < len(s) and s[j] in "+-0123456789.eE":
            j += 1
        token = s[i:j]
        if not token:
            self.fail("unexpected character %r" % c)
        self.i = j
        try:
            if "." in token or "e" in token or "E" in token:
                return float(token)
            return int(token)
        except ValueError:
            self.fail("bad number %r" % token)

    def obj(self):
        self.i += 1
        result = {}
        self.ws()
        if self.s.startswith("}", self.i):
            self.i += 1
            return result
        while True:
            self.ws()
            if not self.s.startswith('"', self.i):
                self.fail("expected a key")
            key = self.string()
            self.ws()
            if not self.s.startswith(":", self.i):
                self.fail("expected ':'")
            self.i += 1
            result[key] = self.value()
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif self.s.startswith("}", self.i):
                self.i += 1
                return result
            else:
                self.fail("expected ',' or '}'")

    def arr(self):
        self.i += 1
        result = []
        self.ws()
        if self.s.startswith("]", self.i):
            self.i += 1
            return result
        while True:
            result.append(self.value())
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif self.s.startswith("]", self.i):
                self.i += 1
                return result
            else:
                self.fail("expected ',' or ']'")

    def string(self):
        s = self.s
        i = self.i + 1
        parts = []
        while True:
            j = i
            while j < len(s) and s[j] != '"' and s[j] != "\\":
                j += 1
            if j >= len(s):
                self.fail("unterminated string")
            parts.append(s[i:j])
            if s[j] == '"':
                self.i = j + 1
                return "".join(parts)
            esc = s[j + 1:j + 2]
            if esc in self._SIMPLE_ESCAPES:
                parts.append(self._SIMPLE_ESCAPES[esc])
                i = j + 2
            elif esc == "u":
                try:
                    code = int(s[j + 2:j + 6], 16)
                except ValueError:
                    self.i = j
                    self.fail("bad \\u escape")
                i = j + 6
                if 0xD800 <= code < 0xDC00 and s[i:i + 2] == "\\u":
                    try:
                        low = int(s[i + 2:i + 6], 16)
                    except ValueError:
                        low = 0
                    if 0xDC00 <= low < 0xE000:
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                parts.append(chr(code))
            else:
                self.i = j
                self.fail("bad escape")


def loads(text):
    return _Parser(text).parse()
