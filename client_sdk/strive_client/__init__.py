"""The Strive client SDK: build, sign and submit referrals to a law-enforcement receiver."""
