/* Optional accelerator for the sans-I/O core's two per-byte or per-frame hot spots:
 *
 * - apply_mask: RFC 6455 section 5.3 masking, XOR with a 4-byte key;
 * - whole_frame: take one whole, final, plain text or binary frame (section 5.2) off the
 *   front of the receive buffer, unmasked, in one call: the common case of a small
 *   message, which otherwise costs a header object, a piece object and several calls;
 * - payload_buffer and unmask_into: unmask a large frame's payload, as it arrives,
 *   straight into the bytes object the message will be, instead of into pieces joined
 *   at the end (one copy and one allocation of the message's size less).
 *
 * Built at install time when a C compiler is available; rawsock/sansio/_mask.py and
 * _whole_frame.py fall back to pure Python otherwise, _payload_buffer.py to the pieces (or when RAWSOCK_NO_SPEEDUPS is
 * set), with the same results for the same bytes (tests/sansio/test_whole_frame.py).
 * Masking works a word at a time: the key repeated to 8 bytes is XORed into each
 * aligned-size chunk.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* out[i] = in[i] ^ key[i % 4] for i < n (out and in may be the same). */
static void
mask_copy(unsigned char *out, const unsigned char *in, Py_ssize_t n, const unsigned char *k)
{
    unsigned char pattern[8];
    uint64_t word_key, word;
    Py_ssize_t i = 0;
    memcpy(pattern, k, 4);
    memcpy(pattern + 4, k, 4);
    memcpy(&word_key, pattern, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&word, in + i, 8);
        word ^= word_key;
        memcpy(out + i, &word, 8);
    }
    for (; i < n; i++) {
        out[i] = in[i] ^ k[i & 3];
    }
}

static PyObject *
apply_mask(PyObject *module, PyObject *args)
{
    Py_buffer data, key;
    if (!PyArg_ParseTuple(args, "y*y*:apply_mask", &data, &key)) {
        return NULL;
    }
    if (key.len != 4) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the mask key must be 4 bytes");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        const unsigned char *in = (const unsigned char *)data.buf;
        const unsigned char *k = (const unsigned char *)key.buf;
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
        Py_ssize_t n = data.len;
        Py_BEGIN_ALLOW_THREADS
        mask_copy(out, in, n, k);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    return result;
}

/* whole_frame(buffer, require_mask, limit) -> (opcode, payload) | None
 *
 * See _whole_frame.py for the contract, which the pure-Python version defines. */
static PyObject *
whole_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "whole_frame(buffer, require_mask, limit)");
        return NULL;
    }
    PyObject *buffer = args[0];
    if (!PyByteArray_CheckExact(buffer)) {
        PyErr_SetString(PyExc_TypeError, "whole_frame() needs a bytearray");
        return NULL;
    }
    int require_mask = PyObject_IsTrue(args[1]);
    if (require_mask < 0) {
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[2]);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t size = PyByteArray_GET_SIZE(buffer);
    if (size < 2) {
        Py_RETURN_NONE;
    }
    const unsigned char *b = (const unsigned char *)PyByteArray_AS_STRING(buffer);
    unsigned char first = b[0], second = b[1];
    if (first != 0x81 && first != 0x82) {
        Py_RETURN_NONE;  /* not FIN + no RSV + text or binary */
    }
    if (((second & 0x80) != 0) != (require_mask != 0)) {
        Py_RETURN_NONE;  /* wrong masking: the full parser reports it */
    }
    Py_ssize_t length = second & 0x7F, start = 2;
    if (length == 127) {
        Py_RETURN_NONE;  /* a 64-bit length: large, the full parser takes it */
    }
    if (length == 126) {
        if (size < 4) {
            Py_RETURN_NONE;
        }
        length = ((Py_ssize_t)b[2] << 8) | b[3];
        start = 4;
    }
    if (limit >= 0 && length > limit) {
        Py_RETURN_NONE;  /* over the frame limit: the full parser fails it */
    }
    Py_ssize_t payload_start = start + (require_mask ? 4 : 0);
    Py_ssize_t end = payload_start + length;
    if (size < end) {
        Py_RETURN_NONE;  /* not all here yet */
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, length);
    if (data == NULL) {
        return NULL;
    }
    if (length) {
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(data);
        if (require_mask) {
            mask_copy(out, b + payload_start, length, b + start);
        } else {
            memcpy(out, b + payload_start, length);
        }
    }
    int consumed = end == size ? PyByteArray_Resize(buffer, 0)
                               : PySequence_DelSlice(buffer, 0, end);
    if (consumed < 0) {
        Py_DECREF(data);
        return NULL;
    }
    PyObject *opcode = PyLong_FromLong(first & 0x0F);
    if (opcode == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    PyObject *result = PyTuple_New(2);
    if (result == NULL) {
        Py_DECREF(opcode);
        Py_DECREF(data);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, opcode);
    PyTuple_SET_ITEM(result, 1, data);
    return result;
}

/* payload_buffer(size) -> bytes
 *
 * A new bytes object of `size` bytes whose contents are not set yet: for unmask_into to
 * fill, in full, before anything else sees it (the frame parser keeps it private until
 * the frame is complete). */
static PyObject *
payload_buffer(PyObject *module, PyObject *arg)
{
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    if (size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (size < 1) {
        PyErr_SetString(PyExc_ValueError, "payload_buffer() needs a positive size");
        return NULL;
    }
    return PyBytes_FromStringAndSize(NULL, size);
}

/* unmask_into(target, offset, data, key) -> None
 *
 * Write `data` unmasked with `key` (None: not masked) into `target` (from
 * payload_buffer) at `offset`, the data's position in the payload (which sets where in
 * the key it starts, RFC 6455 section 5.3). */
static PyObject *
unmask_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "unmask_into(target, offset, data, key)");
        return NULL;
    }
    PyObject *target = args[0];
    if (!PyBytes_CheckExact(target)) {
        PyErr_SetString(PyExc_TypeError, "unmask_into() writes into a payload_buffer()");
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[1]);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const unsigned char *key = NULL;
    if (args[3] != Py_None) {
        if (!PyBytes_CheckExact(args[3]) || PyBytes_GET_SIZE(args[3]) != 4) {
            PyErr_SetString(PyExc_ValueError, "the mask key must be 4 bytes");
            return NULL;
        }
        key = (const unsigned char *)PyBytes_AS_STRING(args[3]);
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[2], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (offset < 0 || data.len > PyBytes_GET_SIZE(target) - offset) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "unmask_into() past the end of its target");
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(target) + offset;
    const unsigned char *in = (const unsigned char *)data.buf;
    Py_ssize_t n = data.len;
    Py_BEGIN_ALLOW_THREADS
    if (key == NULL) {
        memcpy(out, in, n);
    } else {
        unsigned char rotated[4];
        for (int i = 0; i < 4; i++) {
            rotated[i] = key[(offset + i) & 3];
        }
        mask_copy(out, in, n, rotated);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS,
     "apply_mask(data, key) -> bytes: XOR data with the 4-byte key repeated (RFC 6455 5.3)."},
    {"whole_frame", (PyCFunction)(void (*)(void))whole_frame, METH_FASTCALL,
     "whole_frame(buffer, require_mask, limit) -> (opcode, payload) | None (RFC 6455 5.2)."},
    {"payload_buffer", payload_buffer, METH_O,
     "payload_buffer(size) -> bytes: a buffer for unmask_into to fill."},
    {"unmask_into", (PyCFunction)(void (*)(void))unmask_into, METH_FASTCALL,
     "unmask_into(target, offset, data, key): unmask data into target at offset (5.3)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "rawsock.sansio._speedups",
    "Compiled helpers for rawsock's sans-I/O core.", -1, speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
