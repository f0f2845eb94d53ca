"""The Similarity tab (the analysis engine's endpoints join this blueprint)."""
from flask import Blueprint
from flask_login import login_required

from zeuge_lite.access import batch_or_404
from zeuge_lite.plans import PLANS, plan_allows_similarity
from zeuge_lite.views.batches import render_tab

bp = Blueprint("similarity", __name__, url_prefix="/batches")


@bp.route("/<int:batch_id>/similarity")
@login_required
def tab(batch_id):
    """The Similarity tab; on a free plan it shows the upgrade prompt instead."""
    batch = batch_or_404(batch_id)
    return render_tab("similarity/tab.html", batch, active="similarity", plans=PLANS,
                      allowed=plan_allows_similarity(batch["plan"]))
