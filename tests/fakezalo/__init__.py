from tests.fakezalo.server import FakeZalo, FakeZaloUser, Sent

__all__ = ["FakeZalo", "FakeZaloUser", "Sent"]
