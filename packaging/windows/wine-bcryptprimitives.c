/* Test shim for wine 8 (Debian 12), never shipped: Rust's standard library (1.78 and later)
 * takes its random bytes from ProcessPrng in bcryptprimitives.dll, which wine 8 does not have
 * (wine 9 does). scripts/package-test builds this with mingw-w64 into the test's wine prefix
 * so that the Windows binary can run there; Windows itself has the real DLL. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
