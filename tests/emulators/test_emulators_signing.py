"""The emulators' thinking signatures: a signature with non-ASCII characters is not one.

Measured before (the fuzz run, tests/server/test_server_fuzz.py): a byte-order mark inside an
``encrypted_content`` sent to the Responses emulator was a 500 naming ``TypeError: comparing
strings with non-ASCII characters is not supported``."""

from __future__ import annotations

from thinkwire.emulators.signing import Signer


def test_a_signature_verifies_and_one_with_non_ascii_characters_does_not() -> None:
    signer = Signer(b"secret")
    signature = signer.sign("I think.", 0)
    signed = signer.verify(signature)
    assert signed is not None
    assert (signed.t, signed.i) == ("I think.", 0)
    for altered in (signature + "\ufeff", "\ufeff" + signature, signature[:-2] + "é", "x.\ud800"):
        assert signer.verify(altered) is None
