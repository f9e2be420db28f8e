/* Optional C accelerator for FrameParser._parse: the happy path of complete frames.
 *
 * Theory of operation
 * -------------------
 * scan(buf, pos, version, max_frame_size, max_headers, max_header_length, commands, frame_type)
 * looks at the frame starting at ``pos`` in the bytes object ``buf`` (after skipping EOLs
 * and NULs between frames, as parser.py does) and returns ``(frame, end)``:
 *
 *   - the frame is complete and valid: ``frame`` is a new ``frame_type(command, headers, body)``
 *     and ``end`` is the offset just after its NUL;
 *   - anything else (incomplete, or any condition the Python parser would refuse): ``frame``
 *     is None and ``end`` is where the frame starts. The Python parser continues from there,
 *     so every error message and every partial-frame state is the one parser.py produces.
 *
 * It never raises for protocol reasons and holds no state. One frame per call, not a batch:
 * the Python code passes the parser's settings for every frame, so a consumer that changes
 * them between frames (the session raises ``version`` after CONNECT, possibly after an
 * asynchronous authentication) gets exactly what the pure-Python parser gives. (Returning a
 * list of frames would save about 2 % of the instructions per SEND.)
 * The rules are those of parser.py (STOMP 1.2 "STOMP Frames", "Value Encoding", "Size
 * Limits"); parser.py stays the reference, and tests/protocol runs against both.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define LF '\n'
#define CR '\r'

/* The parser's settings for one frame, as C values. */
typedef struct {
    Py_ssize_t version;
    Py_ssize_t max_frame_size;
    Py_ssize_t max_headers;
    Py_ssize_t max_header_length;
    PyObject *commands;   /* borrowed; exactly a frozenset or a set */
    PyObject *frame_type; /* borrowed */
} Settings;

/* Only SEND, MESSAGE and ERROR may carry a body (constants.BODY_COMMANDS). */
static int
is_body_command(const char *s, Py_ssize_t n)
{
    return (n == 4 && memcmp(s, "SEND", 4) == 0) || (n == 7 && memcmp(s, "MESSAGE", 7) == 0)
        || (n == 5 && memcmp(s, "ERROR", 5) == 0);
}

/* Headers of CONNECT, STOMP and CONNECTED are never unescaped (parser._NEVER_ESCAPED). */
static int
is_never_escaped(const char *s, Py_ssize_t n)
{
    return (n == 7 && memcmp(s, "CONNECT", 7) == 0) || (n == 5 && memcmp(s, "STOMP", 5) == 0)
        || (n == 9 && memcmp(s, "CONNECTED", 9) == 0);
}

/* A header name or value as a new bytes object, unescaped when ``escaped`` (escape.unescape).
 * Returns NULL with no exception set for an invalid escape sequence (the Python parser
 * reports it), NULL with an exception set on memory exhaustion. */
static PyObject *
make_field(const char *s, Py_ssize_t n, int escaped, Py_ssize_t version)
{
    if (!escaped || n == 0 || memchr(s, '\\', (size_t)n) == NULL) {
        return PyBytes_FromStringAndSize(s, n);
    }
    /* First pass: validate and measure; every backslash takes the next byte with it. */
    Py_ssize_t out_len = 0;
    for (Py_ssize_t i = 0; i < n; i++, out_len++) {
        if (s[i] == '\\') {
            if (i + 1 >= n) {
                return NULL;
            }
            char c = s[++i];
            if (!(c == '\\' || c == 'n' || c == 'c' || (c == 'r' && version >= 12))) {
                return NULL;
            }
        }
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, out_len);
    if (result == NULL) {
        return NULL;
    }
    char *out = PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\') {
            c = s[++i];
            c = c == 'n' ? LF : c == 'c' ? ':' : c == 'r' ? CR : '\\';
        }
        *out++ = c;
    }
    return result;
}

/* The frame at *pos, or NULL. Returns NULL with no exception set to stop (the frame is
 * incomplete or not on the happy path; *pos is then the frame's start), NULL with an
 * exception set on failure (memory), else the new frame with *pos just after its NUL. */
static PyObject *
scan_frame(const char *buf, Py_ssize_t n, Py_ssize_t *pos_io, const Settings *st)
{
    Py_ssize_t pos = *pos_io;

    /* EOLs between frames (heart-beats): LF or CRLF, never a lone CR; and stray NULs. */
    while (pos < n) {
        if (buf[pos] == LF || buf[pos] == '\0') {
            pos++;
        } else if (buf[pos] == CR && pos + 1 < n && buf[pos + 1] == LF) {
            pos += 2;
        } else {
            break;
        }
    }
    *pos_io = pos;
    if (pos >= n) {
        return NULL;
    }

    /* The blank line ending the head: the first LF followed by LF or by CRLF. */
    Py_ssize_t head_end = -1, body_start = 0;
    for (Py_ssize_t i = pos; i < n;) {
        const char *lf = memchr(buf + i, LF, (size_t)(n - i));
        if (lf == NULL) {
            break;
        }
        i = lf - buf;
        if (i + 1 < n && buf[i + 1] == LF) {
            head_end = i;
            body_start = i + 2;
            break;
        }
        if (i + 2 < n && buf[i + 1] == CR && buf[i + 2] == LF) {
            head_end = i;
            body_start = i + 3;
            break;
        }
        i++;
    }
    if (head_end < 0) {
        return NULL; /* incomplete head */
    }
    Py_ssize_t head_size = body_start - pos;
    if (head_size > st->max_frame_size) {
        return NULL;
    }

    /* Lines of the block [pos, head_end): a line ends at LF, and the CR just before that LF
     * is not part of it (parser.py replaces CRLF by LF, then drops a final CR). Count and
     * measure them before building anything. */
    Py_ssize_t lines = 1;
    {
        Py_ssize_t start = pos;
        for (;;) {
            const char *lf = memchr(buf + start, LF, (size_t)(head_end - start));
            Py_ssize_t end = lf ? lf - buf : head_end;
            Py_ssize_t length = end - start;
            if (length > 0 && buf[end - 1] == CR) {
                length--;
            }
            if (length > st->max_header_length) {
                return NULL;
            }
            if (lf == NULL) {
                break;
            }
            lines++;
            start = end + 1;
        }
    }
    if (lines - 1 > st->max_headers) {
        return NULL;
    }

    /* The command line. */
    const char *command_end = memchr(buf + pos, LF, (size_t)(head_end - pos));
    Py_ssize_t line_end = command_end ? command_end - buf : head_end;
    Py_ssize_t command_length = line_end - pos;
    if (command_length > 0 && buf[line_end - 1] == CR) {
        command_length--;
    }
    const char *command_text = buf + pos;
    PyObject *command = PyBytes_FromStringAndSize(command_text, command_length);
    if (command == NULL) {
        return NULL;
    }
    int known = PySet_Contains(st->commands, command);
    if (known != 1) {
        Py_DECREF(command);
        return NULL; /* unknown (the Python parser reports it), or an error (it raises it again) */
    }
    int body_allowed = is_body_command(command_text, command_length);
    int escaped = st->version != 10 && !is_never_escaped(command_text, command_length);

    PyObject *headers = PyDict_New();
    if (headers == NULL) {
        Py_DECREF(command);
        return NULL;
    }
    const char *length_text = NULL; /* the first content-length value (owned by headers) */
    Py_ssize_t length_size = 0;
    Py_ssize_t start = line_end + 1;
    while (start <= head_end && command_end != NULL) {
        const char *lf = memchr(buf + start, LF, (size_t)(head_end - start));
        Py_ssize_t end = lf ? lf - buf : head_end;
        Py_ssize_t content_end = end; /* without the CR of a CRLF */
        if (content_end > start && buf[content_end - 1] == CR) {
            content_end--;
        }
        const char *line = buf + start;
        const char *colon = memchr(line, ':', (size_t)(content_end - start));
        if (colon == NULL || colon == line) {
            goto stop; /* no colon, or an empty name */
        }
        Py_ssize_t name_length = colon - line;
        PyObject *name = make_field(line, name_length, escaped, st->version);
        if (name == NULL) {
            goto stop;
        }
        PyObject *value = make_field(colon + 1, content_end - start - name_length - 1, escaped, st->version);
        if (value == NULL) {
            Py_DECREF(name);
            goto stop;
        }
        PyObject *kept = PyDict_SetDefault(headers, name, value); /* first occurrence wins */
        if (kept == value && length_text == NULL && PyBytes_GET_SIZE(name) == 14
            && memcmp(PyBytes_AS_STRING(name), "content-length", 14) == 0) {
            length_text = PyBytes_AS_STRING(value);
            length_size = PyBytes_GET_SIZE(value);
        }
        Py_DECREF(name);
        Py_DECREF(value);
        if (kept == NULL) {
            goto stop;
        }
        if (lf == NULL) {
            break;
        }
        start = end + 1;
    }

    Py_ssize_t frame_end;
    PyObject *body;
    if (length_text != NULL) {
        /* 1 to 15 ASCII digits, as bytes.isdigit() and the length check in parser.py. */
        if (length_size == 0 || length_size > 15) {
            goto stop;
        }
        long long length = 0;
        for (Py_ssize_t i = 0; i < length_size; i++) {
            char c = length_text[i];
            if (c < '0' || c > '9') {
                goto stop;
            }
            length = length * 10 + (c - '0');
        }
        if ((length && !body_allowed) || (long long)head_size + length > (long long)st->max_frame_size) {
            goto stop;
        }
        if (length >= (long long)(n - body_start)) {
            goto stop; /* incomplete: the body or its NUL has not arrived */
        }
        Py_ssize_t body_end = body_start + (Py_ssize_t)length;
        if (buf[body_end] != '\0') {
            goto stop;
        }
        frame_end = body_end + 1;
        body = PyBytes_FromStringAndSize(buf + body_start, length);
    } else {
        const char *nul = memchr(buf + body_start, '\0', (size_t)(n - body_start));
        if (nul == NULL) {
            goto stop; /* incomplete */
        }
        Py_ssize_t nul_at = nul - buf;
        if ((nul_at != body_start && !body_allowed) || nul_at - pos > st->max_frame_size) {
            goto stop; /* CR/LF bytes alone are accepted there, by the Python parser (rare) */
        }
        frame_end = nul_at + 1;
        body = PyBytes_FromStringAndSize(buf + body_start, nul_at - body_start);
    }
    if (body == NULL) {
        goto stop;
    }
    PyObject *args[3] = {command, headers, body};
    PyObject *frame = PyObject_Vectorcall(st->frame_type, args, 3, NULL);
    Py_DECREF(command);
    Py_DECREF(headers);
    Py_DECREF(body);
    if (frame != NULL) {
        *pos_io = frame_end;
    }
    return frame;

stop:
    Py_DECREF(command);
    Py_DECREF(headers);
    return NULL;
}

/* An int argument as a Py_ssize_t; 0 (and no exception) when it is anything else. */
static int
as_size(PyObject *value, Py_ssize_t *out)
{
    if (!PyLong_CheckExact(value)) {
        return 0;
    }
    Py_ssize_t result = PyLong_AsSsize_t(value);
    if (result == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *out = result;
    return 1;
}

static PyObject *
stopped(Py_ssize_t pos)
{
    PyObject *end = PyLong_FromSsize_t(pos);
    if (end == NULL) {
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, Py_None, end);
    Py_DECREF(end);
    return result;
}

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "scan(buf, pos, version, max_frame_size, max_headers, max_header_length, "
                        "commands, frame_type) takes 8 arguments");
        return NULL;
    }
    Py_ssize_t pos;
    if (!as_size(args[1], &pos)) {
        PyErr_SetString(PyExc_TypeError, "scan: pos must be an int");
        return NULL;
    }
    PyObject *buffer = args[0];
    Settings st;
    /* Anything unusual (a bytearray, a version or limit that is not a plain int, commands
     * that are not a set) is left to the Python parser: stop where we are. */
    if (!PyBytes_CheckExact(buffer) || pos < 0 || pos > PyBytes_GET_SIZE(buffer) || !as_size(args[2], &st.version)
        || !as_size(args[3], &st.max_frame_size) || !as_size(args[4], &st.max_headers)
        || !as_size(args[5], &st.max_header_length) || !(PyFrozenSet_CheckExact(args[6]) || PySet_CheckExact(args[6]))) {
        return stopped(pos);
    }
    st.commands = args[6];
    st.frame_type = args[7];

    Py_ssize_t end = pos;
    PyObject *frame = scan_frame(PyBytes_AS_STRING(buffer), PyBytes_GET_SIZE(buffer), &end, &st);
    if (frame == NULL) {
        /* Any failure (even memory) stops too: the Python parser redoes the frame and
         * raises what it raises. */
        PyErr_Clear();
        return stopped(end);
    }
    PyObject *offset = PyLong_FromSsize_t(end);
    if (offset == NULL) {
        Py_DECREF(frame);
        return NULL;
    }
    PyObject *result = PyTuple_New(2);
    if (result == NULL) {
        Py_DECREF(frame);
        Py_DECREF(offset);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, frame);
    PyTuple_SET_ITEM(result, 1, offset);
    return result;
}

static PyMethodDef scanner_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(buf, pos, version, max_frame_size, max_headers, max_header_length, commands, frame_type)\n--\n\n"
     "The complete, valid frame at ``pos`` (EOLs and NULs before it skipped) and the offset after it,\n"
     "or ``(None, offset of the frame)`` when it is incomplete or not on the happy path."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
command_set(const char *a, const char *b, const char *c)
{
    return Py_BuildValue("(yyy)", a, b, c);
}

static int
scanner_exec(PyObject *module)
{
    /* What the C code hardcodes, for tests to compare with constants.py and parser.py. */
    PyObject *body = command_set("SEND", "MESSAGE", "ERROR");
    if (body == NULL || PyModule_AddObject(module, "BODY_COMMANDS", body) < 0) {
        Py_XDECREF(body);
        return -1;
    }
    PyObject *never = command_set("CONNECT", "STOMP", "CONNECTED");
    if (never == NULL || PyModule_AddObject(module, "NEVER_ESCAPED", never) < 0) {
        Py_XDECREF(never);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot scanner_slots[] = {
    {Py_mod_exec, scanner_exec},
    {0, NULL},
};

static struct PyModuleDef scanner_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "xtomp_core.protocol._scanner",
    .m_doc = "Optional C accelerator for the STOMP frame scanner (the happy path of complete frames).\n\n"
             "FrameParser uses it when it is importable and XTOMP_PURE_PYTHON is not set; the\n"
             "pure-Python parser stays the reference and handles everything the scanner stops at.",
    .m_size = 0,
    .m_methods = scanner_methods,
    .m_slots = scanner_slots,
};

PyMODINIT_FUNC
PyInit__scanner(void)
{
    return PyModuleDef_Init(&scanner_module);
}
