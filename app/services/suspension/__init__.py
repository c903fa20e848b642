"""What happens to the overdue: deadlines counted on the working-day calendar (`calendar`,
`deadlines`), the monthly sweep (`sweep`), payment stops and their reasons (`stops`,
`decisions`), and the cases officers work (`cases`)."""
