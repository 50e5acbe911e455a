"""The download gateway's route (placeholder until the gateway lands)."""
from flask_smorest import Blueprint

blp = Blueprint("gateway", __name__, description="Downloads: licensed, ranged and metered")
