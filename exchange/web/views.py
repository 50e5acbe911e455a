"""Server-rendered pages."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("web", __name__, template_folder="templates")


@bp.get("/")
def home():
    return render_template("home.html")
