"""The seed-city simulator: city, one day of trucks and tickets, offline and online runners."""
