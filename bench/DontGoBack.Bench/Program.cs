using System.Globalization;
using DontGoBack.Bench;

// Numbers in the table and in the progress read the same on every machine.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
return await BenchCommand.InvokeAsync(args);
