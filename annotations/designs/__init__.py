"""Study designs: how a design builds a campaign's items and the balance key of each. The paper's
design, ``verdict``, is the only one so far."""
