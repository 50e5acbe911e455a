"""Usage reports and presigned download links (placeholder until they land)."""
from flask_smorest import Blueprint

blp = Blueprint("usage", __name__, url_prefix="/api/v1", description="Usage reports and presigned download links")
