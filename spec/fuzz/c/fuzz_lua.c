/* libFuzzer harness for the core functions that take bytes and need nothing else (measure,
 * base64, hex, the signatures): the properties are all in the target's Lua script. */
#include "fuzz_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_check(fuzz_state(NULL), data, size);
    return 0;
}
