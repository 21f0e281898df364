"""Whether a proposal document may be put to a venue: rehearsed there, and signed off by the committee.

Publishing calls ``require_publishable`` first; signing off calls ``require_rehearsed`` (a plan
that failed its rehearsal cannot be signed off). Each refusal is a 409 that says what is
missing and the command that supplies it.
"""

from typing import Any

from django.conf import settings

from proposals.exceptions import RehearsalRequired, SignOffThresholdNotMet
from proposals.signoffs import counted_signoffs, get_signoff_subject


def require_rehearsed(*, proposal_id: int, venue_id: int) -> None:
    """``RehearsalRequired`` (409) unless the document's latest rehearsal on this venue passed.

    Rehearsals on other venues count neither way: a later one failing elsewhere does not hide
    one that passed here, and one passing elsewhere does not stand in for this venue's.
    """
    from proposals.rehearsals import passed_rehearsal

    if passed_rehearsal(proposal_id=proposal_id, venue_id=venue_id) is None:
        raise RehearsalRequired(
            f"rehearse first: proposal {proposal_id} has no passed rehearsal on venue {venue_id} (its latest one "
            f"there failed, or none ran there; rehearsals on other venues do not count); run "
            f"`manage.py proposal rehearse --proposal {proposal_id} --venue {venue_id}`",
            proposal=proposal_id,
            venue=venue_id,
        )


def signoff_status(*, proposal_id: int, venue_id: int) -> dict[str, Any]:
    """How many distinct active committee members signed the document off for the venue, of how many needed."""
    subject = get_signoff_subject(proposal_id=proposal_id, venue_id=venue_id)
    signers = sorted(row.signer for row in counted_signoffs(subject))
    threshold = settings.SIGNOFF_THRESHOLD
    return {
        "count": len(signers),
        "threshold": threshold,
        "signers": signers,
        "digest": subject.digest,
        "met": len(signers) >= threshold,
    }


def require_publishable(*, proposal_id: int, venue_id: int) -> None:
    """Refuse (409) a document that is not rehearsed on the venue or not signed off by enough members.

    Unknown proposal or venue: 404; a venue on another chain than the incident: 409.
    """
    status = signoff_status(proposal_id=proposal_id, venue_id=venue_id)  # 404s and chain mismatch first
    require_rehearsed(proposal_id=proposal_id, venue_id=venue_id)
    if not status["met"]:
        signed = ", ".join(status["signers"]) or "nobody yet"
        raise SignOffThresholdNotMet(
            f"proposal {proposal_id} has {status['count']} of the {status['threshold']} committee sign-offs needed "
            f"for venue {venue_id} (signed: {signed}); each member signs with "
            f"`manage.py proposal sign --proposal {proposal_id} --venue {venue_id} --key-env VAR`",
            count=status["count"],
            threshold=status["threshold"],
            signers=status["signers"],
        )
