import pytest

from ganlift.registry import Registry


def test_register_decorator_and_call():
    reg = Registry("thing")

    @reg.register("a")
    class A:
        pass

    def b():
        return 2

    assert reg.register("b", b) is b
    assert reg.get("a") is A and reg.get("b") is b
    assert reg.names() == ["a", "b"] and "a" in reg and len(reg) == 2


def test_duplicate_name_is_an_error_unless_overwrite():
    reg = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 2)
    reg.register("a", 2, overwrite=True)
    assert reg.get("a") == 2


def test_unknown_name_suggests_close_matches_and_lists_names():
    reg = Registry("teacher")
    reg.register("synthetic-faces", 1)
    reg.register("synthetic-cats", 2)
    with pytest.raises(KeyError) as info:
        reg.get("synthetic-face")
    msg = info.value.args[0]
    assert "Did you mean 'synthetic-faces'" in msg
    assert "synthetic-cats" in msg and "unknown teacher" in msg
