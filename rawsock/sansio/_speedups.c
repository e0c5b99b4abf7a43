/* Optional accelerator for RFC 6455 section 5.3 masking: XOR with a 4-byte key.
 *
 * Built at install time when a C compiler is available; rawsock/sansio/_mask.py falls
 * back to pure Python otherwise (or when RAWSOCK_NO_SPEEDUPS is set). Works a word at a
 * time: the key repeated to 8 bytes is XORed into each aligned-size chunk.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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
        unsigned char pattern[8];
        uint64_t word_key, word;
        Py_ssize_t i = 0, n = data.len;
        memcpy(pattern, k, 4);
        memcpy(pattern + 4, k, 4);
        memcpy(&word_key, pattern, 8);
        Py_BEGIN_ALLOW_THREADS
        for (; i + 8 <= n; i += 8) {
            memcpy(&word, in + i, 8);
            word ^= word_key;
            memcpy(out + i, &word, 8);
        }
        for (; i < n; i++) {
            out[i] = in[i] ^ k[i & 3];
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS,
     "apply_mask(data, key) -> bytes: XOR data with the 4-byte key repeated (RFC 6455 5.3)."},
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
