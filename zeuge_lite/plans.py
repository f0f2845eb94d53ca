"""Plans and the one server-side check that every similarity endpoint uses."""
from flask import render_template

PLANS = {
    "free": {"title": "Free", "price": "0 per month", "similarity": False,
             "features": ["Unlimited batches and items", "Metadata editing and ordering", "ZIP export"]},
    "pro": {"title": "Pro", "price": "paid per month", "similarity": True,
            "features": ["Everything in Free", "Visual similarity analysis", "Duplicate review and clean-up",
                        "Similar items and uniqueness", "Duplicate reports (JSON, HTML, CSV)"]},
}


class PlanRequired(Exception):
    """The archive's plan does not include the feature that was asked for."""

    def __init__(self, plan):
        super().__init__(f"The {plan} plan does not include visual similarity.")
        self.plan = plan


def plan_allows_similarity(plan):
    """True if this plan includes the similarity features."""
    return PLANS.get(plan, PLANS["free"])["similarity"]


def require_similarity(row):
    """Raise PlanRequired unless the row's archive plan (row['plan']) includes similarity."""
    if not plan_allows_similarity(row["plan"]):
        raise PlanRequired(row["plan"])


def _plan_required_response(error):
    return render_template("plans/_upgrade.html", plan=error.plan, plans=PLANS), 402


def init_app(app):
    """Render the upgrade prompt (HTTP 402) wherever a similarity endpoint refuses a plan."""
    app.register_error_handler(PlanRequired, _plan_required_response)
