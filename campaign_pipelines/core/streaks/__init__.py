"""The streaks domain's pure logic: journey config, operators and lint, rule engine, batch
eligibility, manual assignment files, chains and the what-if simulation. See README.md."""
