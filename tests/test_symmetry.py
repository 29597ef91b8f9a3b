import pytest

from py2rely_plugins.relion5.symmetry import normalise_symmetry


@pytest.mark.parametrize("name", ["C1", "c7", "C12", "D2", "d17", "T", "O", "I", "I1", "I2", "I3", "I4"])
def test_accepted(name):
    assert normalise_symmetry(name) == name.upper()


@pytest.mark.parametrize("name", ["C0", "D1", "I5", "C2v", "D2h", "Ih", "X", "", "C100", "CI", "S2"])
def test_refused(name):
    with pytest.raises(ValueError, match="accepted"):
        normalise_symmetry(name)
