"""Proof of life, from arrival to storage: a certification request is parsed (`request`),
checked against the channel rules (`acceptance`), stored once with its evidence (`ingest`,
`store`), and read back (`reading`). Legacy files (`imports`) and home visits (`home_visits`)
enter through the same store."""
