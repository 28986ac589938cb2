"""The logs extension never cuts a UTF-8 character in two at a chunk boundary."""
import pytest

from bmlocal.runtime.joblogs import partial_tail

TEXT = "loss 0.1 训练完成 🚀\n".encode()


@pytest.mark.parametrize("end", range(len(TEXT) + 1))
def test_a_chunk_ends_on_a_character_boundary(end: int) -> None:
    chunk = TEXT[:end]
    kept = chunk[:len(chunk) - partial_tail(chunk)]
    assert TEXT.startswith(kept)
    kept.decode("utf-8")  # strict: no partial character left in
    assert end - len(kept) < 4
